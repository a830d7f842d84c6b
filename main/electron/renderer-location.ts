import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isLoopbackHost } from '../backends/http/url-policy.ts'

/** Where the app's own renderer comes from, and the checks that follow from it. */
export interface RendererLocation {
  /** What the window loads. */
  readonly url: string
  /** The dev server's origin (`http://localhost:5173`), in development only. */
  readonly devOrigin?: string
  /** True for a frame showing the app's own page: the only sender IPC accepts. */
  isTrusted(frameUrl: string): boolean
  /** True when a request may leave the app (the dev server; nothing in production). */
  mayRequest(url: string): boolean
  /** The Content-Security-Policy sent with every response (the page's meta tag says the same). */
  readonly csp: string
}

/** How the renderer is served: built files, or the dev server in development. */
export interface RendererSource {
  /** The folder of the built renderer (`out/renderer`). */
  readonly rendererDir: string
  /** ELECTRON_RENDERER_URL; honoured only when `isPackaged` is false. */
  readonly devUrl?: string
  readonly isPackaged: boolean
}

const BASE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "frame-src 'none'",
  "worker-src 'none'",
]

/**
 * The production page is `file://…/out/renderer/index.html`; in development the electron-vite
 * dev server. A packaged app ignores ELECTRON_RENDERER_URL (anyone who can set its environment
 * could otherwise point it at a remote page with the full IPC surface), and even in development
 * only a loopback dev server is accepted.
 */
export function rendererLocation(source: RendererSource): RendererLocation {
  const dev = source.isPackaged ? undefined : devServer(source.devUrl)
  if (dev) {
    const origin = dev.origin
    const socket = `${dev.protocol === 'https:' ? 'wss:' : 'ws:'}//${dev.host}`
    return {
      url: dev.href,
      devOrigin: origin,
      isTrusted: (frameUrl) => parse(frameUrl)?.origin === origin,
      mayRequest: (url) => {
        const target = parse(url)
        return target !== undefined && (target.origin === origin || originOf(target) === socket)
      },
      // Vite's dev client injects styles and talks to the dev server over a WebSocket.
      csp: [
        ...BASE_POLICY,
        "style-src 'self' 'unsafe-inline'",
        `connect-src 'self' ${socket}`,
      ].join('; '),
    }
  }
  const page = pathToFileURL(join(source.rendererDir, 'index.html'))
  return {
    url: page.href,
    isTrusted: (frameUrl) => {
      const frame = parse(frameUrl)
      // The hash and query are the page's own state (routes); the document must be the same.
      return frame?.protocol === 'file:' && frame.host === '' && frame.pathname === page.pathname
    },
    mayRequest: () => false,
    csp: [...BASE_POLICY, "style-src 'self'", "connect-src 'none'"].join('; '),
  }
}

function devServer(devUrl: string | undefined): URL | undefined {
  const url = devUrl ? parse(devUrl) : undefined
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined
  return isLoopbackHost(url.hostname) ? url : undefined
}

function parse(input: string): URL | undefined {
  try {
    return new URL(input)
  } catch {
    return undefined
  }
}

function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`
}
