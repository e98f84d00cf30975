/**
 * Text from a file (tensor names, metadata, messages quoting them) made safe for a terminal: control characters
 * (C0 but `keep`, DEL, C1) and bidirectional overrides are shown as `\u{…}` escapes, so a crafted name cannot move
 * the cursor, recolour or rewrite the screen.
 */
export function printable(text: string, keep = ''): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => (keep.includes(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}
