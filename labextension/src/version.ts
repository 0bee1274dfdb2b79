import packageJson from '../package.json';

/** This frontend's version; the server extension must report the same one. */
export const FRONTEND_VERSION: string = packageJson.version;
