/** Links made from values a backend reports (a KServe URL, an MLflow run page). */

import * as React from 'react';

const SAFE_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * `url` when it is an absolute http(s) URL, else `undefined`: a value a backend (or the
 * repository configuring it) reports never becomes a `javascript:`, `data:` or `file:` link.
 */
export function safeHref(url: string | null | undefined): string | undefined {
  if (!url) {
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return SAFE_PROTOCOLS.has(parsed.protocol) ? parsed.href : undefined;
}

export interface IExternalLinkProps {
  /** The address a backend reported. */
  url: string | null | undefined;
  className?: string;
  children: React.ReactNode;
}

/**
 * A link that opens in a new tab when `url` is http(s); anything else shows as plain text
 * (no link) with the address in its tooltip.
 */
export function ExternalLink(props: IExternalLinkProps): JSX.Element {
  const href = safeHref(props.url);
  if (href === undefined) {
    return (
      <span className={props.className} title={props.url ?? undefined}>
        {props.children}
      </span>
    );
  }
  return (
    <a className={props.className} href={href} target="_blank" rel="noreferrer">
      {props.children}
    </a>
  );
}
