/**
 * E-mail addresses (the common dot-atom form of RFC 5322): a local part, @, a domain of labels
 * and a top-level domain of letters. Image names like icon@2x.png are left out.
 */
const ADDRESS = /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])/g;
const FILE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'bmp', 'ico', 'tif', 'tiff']);

export function countEmailAddresses(text: string): number {
  if (!text.includes('@')) return 0;
  let count = 0;
  for (const m of text.matchAll(ADDRESS)) if (!FILE_EXTENSIONS.has(m[1]!.toLowerCase())) count++;
  return count;
}
