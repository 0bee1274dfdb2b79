import type { TranslationBundle } from '@jupyterlab/translation';

/**
 * Shapes of the `/mlops/api` replies, and the ids the rest of the frontend shares.
 */

/**
 * The capabilities, in the order the sidebar shows them: the one list the frontend
 * keeps (ids as the server's `GET status` names them). Everything else (the sidebar's
 * sections, the panels' factories, the remembered layout) derives from it.
 */
export const CAPABILITIES = [
  { id: 'features', title: (t: TranslationBundle) => t.__('Features') },
  { id: 'experiments', title: (t: TranslationBundle) => t.__('Experiments') },
  { id: 'pipeline', title: (t: TranslationBundle) => t.__('Pipeline') },
  { id: 'review', title: (t: TranslationBundle) => t.__('Review') },
  { id: 'deploy', title: (t: TranslationBundle) => t.__('Deploy') },
  { id: 'monitor', title: (t: TranslationBundle) => t.__('Monitor') }
] as const;

/** A capability's id. */
export type CapabilityId = (typeof CAPABILITIES)[number]['id'];

/** The ids, in order. */
export const CAPABILITY_IDS: readonly CapabilityId[] = CAPABILITIES.map(
  c => c.id
);

/** How a backend is doing, as the server measured it. */
export type CapabilityState = 'ok' | 'warning' | 'error';

/** A section's state in the sidebar: the server's, or 'loading' before the first answer. */
export type SectionState = CapabilityState | 'loading';

/** One measured check of a backend. */
export interface ICheck {
  name: string;
  ok: boolean;
  message: string;
  elapsed_ms: number;
  /** "warning" means it works but deserves a look; absent from older servers. */
  level?: CapabilityState;
}

/** The health of one capability. */
export interface ICapabilityStatus {
  id: CapabilityId;
  title: string;
  state: CapabilityState;
  summary: string;
  checks: ICheck[];
}

/** One resolved configuration value and where it came from. */
export interface IConfigValue {
  key: string;
  value: unknown;
  /** "default", "env", a config file path, ... */
  source: string;
}

/** The configuration the server resolved for its project. */
export interface IResolvedConfig {
  project_root: string;
  config_file: string | null;
  values: IConfigValue[];
}

/** `GET /mlops/api/status` */
export interface IStatusReply {
  version: string;
  elapsed_ms: number;
  config_error: string | null;
  config: IResolvedConfig | null;
  capabilities: ICapabilityStatus[];
}

/**
 * A problem the sidebar states in plain words above the sections (the words
 * themselves are the banner component's business).
 */
export type Problem =
  /** `/mlops/api/status` answered 404: the server extension is not loaded. */
  | { kind: 'missing-server' }
  | { kind: 'version-mismatch'; frontendVersion: string; serverVersion: string }
  | { kind: 'config-error'; message: string }
  /** Any other failure; `status` is 0 when the server could not be reached. */
  | { kind: 'error'; status: number; message: string };

/** What a banner is about; also its `data-kind` attribute. */
export type ProblemKind = Problem['kind'];

/** The plugin id; also names the settings schema (schema/plugin.json). */
export const PLUGIN_ID = 'jupyter-mlops:plugin';

/** The id of the sidebar widget (and of its tab's `data-id`). */
export const SIDEBAR_ID = 'mlops-sidebar';

/** Command palette category. */
export const COMMAND_CATEGORY = 'MLOps';

export namespace CommandIDs {
  export const openSidebar = 'mlops:open-sidebar';
  export const refreshStatus = 'mlops:refresh-status';
}
