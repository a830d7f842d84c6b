/**
 * Failure messages in the words of someone who has never seen an HTTP status code. The engine
 * keeps one technical message per failed file (main/backends/http/client.ts writes them:
 * "Kala answered 503: Storage is being maintained (POST https://…)"); only that text survives in
 * the index, so the app reads its shape here, once, and every screen shows the plain version
 * with the technical one kept aside for support.
 */

/** A failure as the window shows it: plain words, and the original for "Details". */
export interface PlainFailure {
  readonly text: string
  /** The technical message (status code, request), when `text` leaves it out. */
  readonly detail?: string
}

// The three shapes of main/backends/http/client.ts's statusError and mapNetworkError.
const ANSWERED = /^(.+?) answered (\d{3})(?:: ([\s\S]*))? \(([A-Z]+) (\S+)\)$/
const CONNECTION = /^Connection to (.+?) failed: [\s\S]* \(([A-Z]+) (\S+)\)$/
const NO_HOST = /^Cannot find (.+?) host \(([A-Z]+) (\S+)\)$/

// The client lower-cases the service in network messages ("Connection to kala failed").
const NAMES: Readonly<Record<string, string>> = {
  dstor: 'dStor',
  kala: 'Kala',
  perkeep: 'Perkeep',
  'the server': 'The server',
}

export function plainFailure(message: string): PlainFailure {
  const answered = ANSWERED.exec(message)
  if (answered) {
    const [, service = '', code = '', said] = answered
    return { text: answeredText(serviceName(service), Number(code), said?.trim()), detail: message }
  }
  const connection = CONNECTION.exec(message)
  if (connection) {
    return {
      text: `Ferry could not reach ${hostOf(connection[3] ?? '')}. It tries again by itself once the connection is back.`,
      detail: message,
    }
  }
  const noHost = NO_HOST.exec(message)
  if (noHost) {
    return {
      text: `Ferry could not find the server ${hostOf(noHost[3] ?? '')}. Check your internet connection and the server address.`,
      detail: message,
    }
  }
  return { text: message }
}

/** Only the plain words (for places with room for one line). */
export function plainText(message: string): string {
  return plainFailure(message).text
}

function answeredText(service: string, code: number, said: string | undefined): string {
  const quote = said ? `${service} says: “${trimEnd(said)}”. ` : ''
  if (code === 401 || code === 403) {
    return `${quote}${service} did not accept the saved key or password.`
  }
  if (code === 408 || code === 425) {
    return `${quote}${service} took too long to answer. Ferry tries again later.`
  }
  if (code === 429) {
    return `${quote}${service} asked Ferry to slow down. Ferry tries again later.`
  }
  if (code >= 500) {
    return said
      ? `${quote}The server cannot take files right now. Ferry tries again later.`
      : `${service} cannot take files right now (it may be busy or under maintenance). Ferry tries again later.`
  }
  if (code === 413) return `${quote}${service} refused the file because it is too large.`
  if (code === 404) return `${quote}${service} could not find the place this file should go.`
  return said
    ? `${service} refused the file and says: “${trimEnd(said)}”.`
    : `${service} refused the file.`
}

function serviceName(service: string): string {
  return NAMES[service.toLowerCase()] ?? service
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url
  } catch {
    return url.split('/')[0] ?? url
  }
}

// “Storage is being maintained.” then ". " would end the sentence twice.
function trimEnd(said: string): string {
  return said.replace(/[.!。]+$/, '')
}
