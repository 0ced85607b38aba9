// What the engine needs from the place it runs, and nothing more: adapters, a small persistent
// cache (kernel timings), settings, and a way to warn. The Node host (node/host.ts, installed by
// importing the package in Node) finds adapters through Dawn's backends and keeps files under
// ~/.cache/vggpu; a browser page installs one over navigator.gpu and localStorage. The engine core
// imports nothing from Node, so it can be bundled for a browser.
import type { AdapterChoice } from './gpu/adapter_choice.js';

/** The engine's needs from its environment. */
export interface Host {
  /** The best adapter here, and why it was chosen. */
  chooseAdapter(): Promise<AdapterChoice>;
  /** Adapters for devices `from` … `count − 1` beside `first` (several devices); throws when there are not enough. */
  moreAdapters(first: AdapterChoice, from: number, count: number): Promise<AdapterChoice[]>;
  /** A small named text kept between runs (e.g. `kernel-tuning.json`), or null when there is none. */
  readCache(name: string): string | null;
  /** Replaces it, atomically where the host can. */
  writeCache(name: string, text: string): void;
  /** Where that text is kept, for messages. */
  cachePath(name: string): string;
  /** An engine setting (VGGPU_TUNE, VGGPU_VARIANTS, …), or undefined. */
  setting(name: string): string | undefined;
  /** Says something the user should know that is not an error. */
  warn(message: string): void;
}

let installed: Host | null = null;

/** Installs the host the engine runs on (the Node entry point does this for Node). */
export function setHost(h: Host): void {
  installed = h;
}

/** The installed host; throws, saying how to install one, when there is none. */
export function host(): Host {
  if (!installed)
    throw new Error(
      'vggpu: no host installed. In Node, import the package ("vggpu"), which installs the Node host; in a browser, call setHost() with one over navigator.gpu first.',
    );
  return installed;
}
