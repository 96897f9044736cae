import { parse } from 'plist';

/** A property-list value as the XML format can hold it (dates and data kept as the library gives them). */
export type PlistValue = string | number | boolean | Date | Buffer | PlistValue[] | { [key: string]: PlistValue };

/**
 * Reads an XML property list (what `system_profiler -xml` and `diskutil … -plist` print) with the
 * `plist` package: an XML parser rather than regular expressions, so nesting, entities and empty
 * elements (<string></string>, <true/>) are read as Apple's DTD defines them.
 * Throws an Error saying why when the text is not a property list.
 */
export function parseXmlPlist(text: string): PlistValue {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (!trimmed.startsWith('<')) throw new Error('not an XML property list (it does not start with "<")');
  let value: unknown;
  try {
    value = parse(trimmed);
  } catch (error) {
    throw new Error(`not a readable XML property list: ${(error as Error).message}`);
  }
  if (value === undefined || value === null) throw new Error('the property list is empty');
  return value as PlistValue;
}

export function isPlistDict(value: PlistValue | undefined): value is { [key: string]: PlistValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !Buffer.isBuffer(value);
}
