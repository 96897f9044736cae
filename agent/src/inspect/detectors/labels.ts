import { CORPORATE_NUMBER_LABEL } from './corporate-number';

/**
 * Names and postal addresses have no shape of their own; they are counted only where the document
 * says what they are: a column header (CSV, spreadsheets) or a label at the start of a line
 * ("氏名: 山田太郎", a Word table row "住所 | 東京都…").
 */
export type ColumnRole = 'name' | 'address' | 'postal-code' | 'corporate-number';

// Folded header text: NFKC, lower case, bracketed qualifiers dropped ("氏名（漢字）" → "氏名"), no spaces or punctuation.
function foldHeader(header: string): string {
  return header
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[(\[【<].*?[)\]】>]/g, '')
    .replace(/[\s_\-.:：・*※/]/g, '');
}

const NAME_WORDS = /氏名|名前|姓名|フリガナ|ふりがな|芳名/;
// Names of things, not people, that also contain 名前/氏名-like words.
const NOT_A_PERSON = /会社|法人|企業|商品|製品|品|ファイル|部署|団体|店|施設|学校|病院|銀行|支店|ホスト|サーバ|ユーザ|アカウント|ドメイン/;
const NAME_EXACT = new Set(['姓', '名', '氏', '名字', '苗字', 'せい', 'めい', 'セイ', 'メイ', 'カナ', 'name', 'fullname', 'firstname', 'lastname', 'givenname', 'familyname', 'surname', 'middlename', 'forename', 'customername', 'contactname', 'personname', 'employeename', 'membername', 'patientname', 'studentname', 'nameinkana', 'namekana', 'kananame']);
const ADDRESS_EXACT = new Set(['address', 'homeaddress', 'streetaddress', 'postaladdress', 'mailingaddress', 'residentialaddress', 'address1', 'address2', 'address3', 'addressline1', 'addressline2', 'street', 'street1', 'street2', '番地', '都道府県', '市区町村', '町名番地', '建物名']);
const POSTAL_EXACT = new Set(['〒', 'zip', 'zipcode', 'postalcode', 'postcode']);

export function columnRole(header: string): ColumnRole | null {
  const h = foldHeader(header);
  if (h === '') return null;
  if (h.includes('郵便番号') || POSTAL_EXACT.has(h)) return 'postal-code';
  if (CORPORATE_NUMBER_LABEL.test(h) || h === 'corporatenumber') return 'corporate-number';
  if (/住所/.test(h) || ADDRESS_EXACT.has(h)) return 'address';
  if ((NAME_WORDS.test(h) && !NOT_A_PERSON.test(h)) || NAME_EXACT.has(h)) return 'name';
  return null;
}

/** True when a cell holds something a person wrote: a letter or a digit, not only dashes or underscores. */
export function hasContent(text: string): boolean {
  return /[\p{L}\p{N}]/u.test(text);
}

const NAME_LABEL = /^\s*[【\[(]?(?:氏名|お名前|名前|姓名|フリガナ|ふりがな|name|full name)[】\])]?\s*(?:[:：\t]|\s{2,})\s*(.*)$/i;
const ADDRESS_LABEL = /^\s*[【\[(]?(?:住所|ご住所|現住所|address|home address)[】\])]?\s*(?:[:：\t]|\s{2,})\s*(.*)$/i;

/** The kind of a labelled line ("氏名：山田太郎"), when its value holds a letter; null otherwise. */
export function labelledLine(line: string): 'name' | 'address' | null {
  const name = NAME_LABEL.exec(line);
  if (name !== null && /\p{L}/u.test(name[1]!)) return 'name';
  const address = ADDRESS_LABEL.exec(line);
  if (address !== null && /\p{L}/u.test(address[1]!)) return 'address';
  return null;
}
