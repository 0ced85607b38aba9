/**
 * vggpu for web pages: the engine core on the browser host (navigator.gpu, localStorage). Bundled
 * as dist/browser/vggpu.js by `npm run build`; call installBrowserHost() before init().
 * @packageDocumentation
 */
export * from '../index.js';
export { browserHost, installBrowserHost, type BrowserHostOptions } from './host.js';
