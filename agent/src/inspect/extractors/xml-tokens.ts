/** What the streaming tokenizer reports; names are local names (the prefix is dropped: w:p → p). */
export interface XmlHandler {
  open(name: string, attributes: string, selfClosing: boolean): void;
  close(name: string): void;
  text(text: string): void;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the five predefined entities and numeric character references. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref] ?? whole;
  });
}

/** The value of one attribute in a tag's attribute text (local name, any prefix), or undefined. */
export function attribute(attributes: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)(?:[\\w.-]+:)?${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attributes);
  return m === null ? undefined : decodeEntities(m[1] ?? m[2]!);
}

const localName = (qname: string) => {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
};

/**
 * A streaming XML tokenizer for the parts of Office files: no DOM, no validation, memory bounded by
 * the longest tag or text node. Text arrives with entities decoded; comments, processing
 * instructions and the DOCTYPE are skipped; CDATA is text.
 */
export class XmlTokenizer {
  private buffer = '';
  constructor(private readonly handler: XmlHandler) {}

  write(chunk: string): void {
    this.buffer += chunk;
    let at = 0;
    const b = this.buffer;
    for (;;) {
      const lt = b.indexOf('<', at);
      if (lt < 0) {
        // Keep text until its tag arrives, so that a split entity (&am|p;) is decoded whole.
        break;
      }
      if (lt > at) this.handler.text(decodeEntities(b.slice(at, lt)));
      at = lt;
      if (b.startsWith('<!--', at)) {
        const end = b.indexOf('-->', at + 4);
        if (end < 0) break;
        at = end + 3;
      } else if (b.startsWith('<![CDATA[', at)) {
        const end = b.indexOf(']]>', at + 9);
        if (end < 0) break;
        this.handler.text(b.slice(at + 9, end));
        at = end + 3;
      } else if (b.startsWith('<?', at) || b.startsWith('<!', at)) {
        const end = b.indexOf('>', at + 2);
        if (end < 0) break;
        at = end + 1;
      } else {
        const end = tagEnd(b, at + 1);
        if (end < 0) break;
        this.tag(b.slice(at + 1, end));
        at = end + 1;
      }
    }
    this.buffer = b.slice(at);
  }

  end(): void {
    if (this.buffer !== '' && !this.buffer.startsWith('<')) this.handler.text(decodeEntities(this.buffer));
    this.buffer = '';
  }

  private tag(inner: string): void {
    if (inner.startsWith('/')) {
      this.handler.close(localName(inner.slice(1).trim()));
      return;
    }
    const selfClosing = inner.endsWith('/');
    const body = selfClosing ? inner.slice(0, -1) : inner;
    const space = body.search(/\s/);
    const name = space < 0 ? body : body.slice(0, space);
    this.handler.open(localName(name), space < 0 ? '' : body.slice(space + 1), selfClosing);
    if (selfClosing) this.handler.close(localName(name));
  }
}

/** The index of the `>` closing a tag that starts at `from`, skipping quoted attribute values; -1 when incomplete. */
function tagEnd(text: string, from: number): number {
  let quote = '';
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== '') {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return i;
  }
  return -1;
}
