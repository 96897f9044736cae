/** Time and number formatting. Pure (no DOM). */

/** '2026-11-28 14:03:09' in the viewer's local time (ja: same order, it reads naturally in both). */
export function formatTime(value: string | number | Date | null | undefined, lang: 'en' | 'ja' = 'en'): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n: number) => String(n).padStart(2, '0');
  const text = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  void lang;
  return text;
}

/** '3 min ago' style, for a hint beside the absolute time. */
export function formatAge(value: string | number | Date, now: number, lang: 'en' | 'ja' = 'en'): string {
  const at = value instanceof Date ? value.getTime() : new Date(value).getTime();
  if (Number.isNaN(at)) return '';
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  const units: Array<[number, string, string]> = [
    [86400, 'd', '日'],
    [3600, 'h', '時間'],
    [60, 'min', '分'],
  ];
  for (const [size, en, ja] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return lang === 'ja' ? `${n}${ja}前` : `${n} ${en} ago`;
    }
  }
  return lang === 'ja' ? `${seconds}秒前` : `${seconds} s ago`;
}

/** 1536 → '1.5 KiB'. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}
