import { writeZip, type ZipEntrySpec } from './zip-writer';

/**
 * Minimal Office Open XML packages (ECMA-376): the content types, the package relationship and the
 * parts that carry text, so tests can write real docx/xlsx/pptx files at run time.
 */

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PKG_REL = 'http://schemas.openxmlformats.org/package/2006/relationships';

function contentTypes(overrides: Array<[string, string]>): string {
  return `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>${overrides
    .map(([part, type]) => `<Override PartName="${part}" ContentType="${type}"/>`)
    .join('')}</Types>`;
}

const packageRels = (target: string) =>
  `${XML}<Relationships xmlns="${PKG_REL}"><Relationship Id="rId1" Type="${REL}/officeDocument" Target="${target}"/></Relationships>`;

/** A Word paragraph or a table (rows of cells). */
export type DocxBlock = string | { table: string[][] };

export function docxEntries(blocks: readonly DocxBlock[], extra: ZipEntrySpec[] = []): ZipEntrySpec[] {
  const paragraph = (text: string) => `<w:p><w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r></w:p>`;
  const body = blocks
    .map((b) => (typeof b === 'string' ? paragraph(b) : `<w:tbl>${b.table.map((row) => `<w:tr>${row.map((cell) => `<w:tc>${paragraph(cell)}</w:tc>`).join('')}</w:tr>`).join('')}</w:tbl>`))
    .join('');
  return [
    { name: '[Content_Types].xml', data: contentTypes([['/word/document.xml', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml']]) },
    { name: '_rels/.rels', data: packageRels('word/document.xml') },
    { name: 'word/document.xml', data: `${XML}<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}<w:sectPr/></w:body></w:document>` },
    ...extra,
  ];
}

export const writeDocx = (path: string, blocks: readonly DocxBlock[]) => writeZip(path, docxEntries(blocks));

/** Column letters of a 0-based index: 0 → A, 26 → AA. */
function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

/** A workbook: sheets of rows; strings go to the shared strings table, numbers stay numbers. */
export function xlsxEntries(sheets: ReadonlyArray<ReadonlyArray<ReadonlyArray<string | number>>>): ZipEntrySpec[] {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const indexOf = (s: string) => {
    let at = index.get(s);
    if (at === undefined) index.set(s, (at = strings.push(s) - 1));
    return at;
  };
  const sheetXml = sheets.map(
    (rows) =>
      `${XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${rows
        .map(
          (row, r) =>
            `<row r="${r + 1}">${row
              .map((cell, c) => (typeof cell === 'number' ? `<c r="${columnName(c)}${r + 1}"><v>${cell}</v></c>` : cell === '' ? '' : `<c r="${columnName(c)}${r + 1}" t="s"><v>${indexOf(cell)}</v></c>`))
              .join('')}</row>`,
        )
        .join('')}</sheetData></worksheet>`,
  );
  const sheetType = 'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml';
  return [
    {
      name: '[Content_Types].xml',
      data: contentTypes([
        ['/xl/workbook.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml'],
        ['/xl/sharedStrings.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml'],
        ...sheets.map((_, i): [string, string] => [`/xl/worksheets/sheet${i + 1}.xml`, sheetType]),
      ]),
    },
    { name: '_rels/.rels', data: packageRels('xl/workbook.xml') },
    {
      name: 'xl/workbook.xml',
      data: `${XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="${REL}"><sheets>${sheets.map((_, i) => `<sheet name="Sheet${i + 1}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('')}</sheets></workbook>`,
    },
    {
      name: 'xl/_rels/workbook.xml.rels',
      data: `${XML}<Relationships xmlns="${PKG_REL}">${sheets.map((_, i) => `<Relationship Id="rId${i + 1}" Type="${REL}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`).join('')}<Relationship Id="rId${sheets.length + 1}" Type="${REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
    },
    // Worksheets come before the shared strings in the archive, as the reader must cope with either order.
    ...sheetXml.map((data, i) => ({ name: `xl/worksheets/sheet${i + 1}.xml`, data })),
    { name: 'xl/sharedStrings.xml', data: `${XML}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((s) => `<si><t xml:space="preserve">${escapeXml(s)}</t></si>`).join('')}</sst>` },
  ];
}

export const writeXlsx = (path: string, sheets: ReadonlyArray<ReadonlyArray<ReadonlyArray<string | number>>>) => writeZip(path, xlsxEntries(sheets));

/** A presentation: slides of paragraphs (each slide one text box). */
export function pptxEntries(slides: ReadonlyArray<readonly string[]>): ZipEntrySpec[] {
  const slideType = 'application/vnd.openxmlformats-officedocument.presentationml.slide+xml';
  const A = 'http://schemas.openxmlformats.org/drawingml/2006/main';
  return [
    {
      name: '[Content_Types].xml',
      data: contentTypes([['/ppt/presentation.xml', 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml'], ...slides.map((_, i): [string, string] => [`/ppt/slides/slide${i + 1}.xml`, slideType])]),
    },
    { name: '_rels/.rels', data: packageRels('ppt/presentation.xml') },
    {
      name: 'ppt/presentation.xml',
      data: `${XML}<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="${REL}"><p:sldIdLst>${slides.map((_, i) => `<p:sldId id="${256 + i}" r:id="rId${i + 1}"/>`).join('')}</p:sldIdLst></p:presentation>`,
    },
    {
      name: 'ppt/_rels/presentation.xml.rels',
      data: `${XML}<Relationships xmlns="${PKG_REL}">${slides.map((_, i) => `<Relationship Id="rId${i + 1}" Type="${REL}/slide" Target="slides/slide${i + 1}.xml"/>`).join('')}</Relationships>`,
    },
    ...slides.map((paragraphs, i) => ({
      name: `ppt/slides/slide${i + 1}.xml`,
      data: `${XML}<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="${A}"><p:cSld><p:spTree><p:sp><p:txBody><a:bodyPr/>${paragraphs
        .map((p) => `<a:p><a:r><a:t>${escapeXml(p)}</a:t></a:r></a:p>`)
        .join('')}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>`,
    })),
  ];
}

export const writePptx = (path: string, slides: ReadonlyArray<readonly string[]>) => writeZip(path, pptxEntries(slides));
