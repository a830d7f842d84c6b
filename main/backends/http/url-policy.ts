import { ConfigError } from '../errors.ts'

/** True for hosts whose traffic never leaves this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/**
 * Parses and vets a server URL: only http(s), no credentials in it, and plain http only to
 * loopback unless the account explicitly allows it (secrets would cross the network in clear).
 */
export function assertAllowedUrl(input: string | URL, allowInsecureHttp: boolean): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    // Never echo the input: it may hold a password (https://user:pw@host).
    throw new ConfigError('Not a valid server address (expected https://host[:port][/path])')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`Unsupported address scheme ${url.protocol} (use https://)`)
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      `Refusing plain http:// to ${url.host}: credentials would travel unencrypted. ` +
        'Use https://, or allow insecure http for this account explicitly.',
    )
  }
  return url
}

/** A URL fit for messages and logs: origin and path only, never credentials or query. */
export function describeUrl(input: string | URL): string {
  try {
    const url = new URL(input)
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return '<invalid url>'
  }
}
