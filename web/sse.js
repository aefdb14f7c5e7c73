// A server-sent-events parser for streams read with fetch(): EventSource cannot
// send the x-api-key header, so the dashboard reads the stream itself. Follows the
// WHATWG rules: any line ending, `data:` lines joined with \n, a blank line
// dispatches, `:` lines are comments, an event cut off by the end is dropped.

/**
 * @param {(event: { event: string, data: string }) => void} onEvent
 * @returns {{ push(chunk: string): void }}
 */
export function createSseParser(onEvent) {
  let buffer = '';
  let data = [];
  let type = '';

  function line(text) {
    if (text === '') {
      if (data.length > 0) onEvent({ event: type === '' ? 'message' : type, data: data.join('\n') });
      data = [];
      type = '';
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
  }

  return {
    push(chunk) {
      buffer += chunk;
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        if (!match) return;
        // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
        if (match[0] === '\r' && match.index === buffer.length - 1) return;
        line(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
      }
    },
  };
}
