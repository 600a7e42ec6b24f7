/**
 * What a server's routes share, as `app.xclip`: the classifier once loaded, the media policy, admission, metrics,
 * limits and the lifecycle state. Route plugins added later (search, the web page) read the same object.
 * @module
 */
import type { MediaSources } from '../mediaSource';
import type { ZeroShotVideoClassifier } from '../pipelines';
import type { VideoIndex } from '../search/videoIndex';
import type { Admission } from './admission';
import type { ServerMetrics } from './metrics';
import type { MultipartLimits } from './uploads';
import type { RequestWork } from './work';

/** `loading` until the model is ready; `draining` from shutdown on; `failed` if loading failed. */
export type ServerState = 'loading' | 'ready' | 'draining' | 'failed';

/** @example const clf = app.xclip.classifier(); */
export interface ServerContext {
  /** The name the model is served under (responses' `model`, `/v1/models`). */
  readonly modelId: string;
  /** True for the generated demo model (random weights). */
  readonly demo: boolean;
  readonly state: ServerState;
  /** The loaded classifier (also while draining, for requests in flight); throws `UNAVAILABLE` (503) while loading or after a failed load. */
  classifier(): ZeroShotVideoClassifier;
  /** Whether the server was given a search index (`serve --db`): the search routes exist only then. */
  readonly hasIndex: boolean;
  /** The open search index; throws `UNAVAILABLE` (503) while loading, `NOT_FOUND` (404) on a server without one. */
  index(): VideoIndex;
  readonly media: MediaSources;
  readonly admission: Admission;
  readonly metrics: ServerMetrics;
  /** Private directory (mode 0700) for uploads; removed when the server closes. */
  readonly tempDir: string;
  readonly multipartLimits: MultipartLimits;
  /** Most bytes of a JSON body: inline videos are base64, so 4/3 of the inline limit plus room for the rest. */
  readonly jsonBodyLimit: number;
  /** Requests of model routes in flight. */
  readonly works: ReadonlySet<RequestWork>;
  /**
   * Graceful stop: `/health` and model routes answer 503 at once, requests in flight may finish until `deadlineMs`
   * (then they are aborted and answered 503), and the listener closes. Idempotent.
   */
  shutdown(deadlineMs?: number): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    xclip: ServerContext;
  }
  interface FastifyRequest {
    /** Set on model routes (`config.work`). */
    work: RequestWork | null;
  }
  interface FastifyContextConfig {
    /** Needs the API key when one is set. */
    auth?: boolean;
    /** A model route: API key, admission, timeout, cancellation on disconnect. */
    work?: boolean;
  }
}
