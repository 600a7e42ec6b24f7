// apache-arrow's declarations name two WHATWG stream types that Node's typings keep in 'node:stream/web' and do not
// make global; the DOM library would supply them, but this package does not compile against the DOM.
type StreamPipeOptions = import('node:stream/web').StreamPipeOptions;
type ReadableStreamReadResult<T> = import('node:stream/web').ReadableStreamReadResult<T>;
