import { BudgetExhausted } from '../budget';
import { ProseScanner } from '../detectors/text-scanner';
import { addNote, type InspectionState } from '../inspection-state';

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjs: Promise<PdfJs> | null = null;

/** pdfjs-dist is ESM; it is loaded on the first PDF only, through import() from our CommonJS build. */
function loadPdfJs(): Promise<PdfJs> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjs;
}

/**
 * The text of a PDF, page by page, through pdfjs-dist in this process (its "fake worker"): each
 * text item is scanned, lines break where pdfjs marks an end of line. A password-protected PDF is
 * counted as an encrypted entry and not opened. The time budget is checked between pages and bounds
 * the parse of the document itself.
 */
export async function inspectPdf(data: Uint8Array, state: InspectionState, label: string): Promise<void> {
  const lib = await loadPdfJs();
  const task = lib.getDocument({
    data,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    stopAtErrors: false,
    verbosity: lib.VerbosityLevel.ERRORS,
  });
  try {
    let document: Awaited<typeof task.promise>;
    try {
      document = await withinDeadline(task.promise, state, `while opening ${label}`);
    } catch (error) {
      if (error instanceof BudgetExhausted) throw error;
      if ((error as Error).name === 'PasswordException') {
        state.encryptedEntries++;
        addNote(state, `${label} is password-protected; not opened`);
        return;
      }
      throw new Error(`${label} could not be read as a PDF: ${(error as Error).message}`);
    }
    const prose = new ProseScanner(state.tally);
    for (let number = 1; number <= document.numPages; number++) {
      state.meter.checkTime(`on page ${number} of ${document.numPages} of ${label}`);
      state.signal?.throwIfAborted();
      const page = await document.getPage(number);
      const content = await withinDeadline(page.getTextContent(), state, `on page ${number} of ${document.numPages} of ${label}`);
      let line = '';
      for (const item of content.items) {
        if (!('str' in item)) continue;
        line += item.str;
        if (item.hasEOL) {
          prose.line(line);
          line = '';
        }
      }
      prose.line(line);
      page.cleanup();
    }
  } finally {
    await task.destroy();
  }
}

/** Resolves with the promise, or rejects with BudgetExhausted when the time budget runs out first. */
async function withinDeadline<T>(promise: Promise<T>, state: InspectionState, where: string): Promise<T> {
  const left = state.meter.millisLeft;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BudgetExhausted(`time budget of ${state.meter.budget.maxMillis} ms reached ${where}`)), left);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
