/** The dStor reference server's `ipfs add`: CIDs as PROTOCOLS.md §1.4 says dStor makes them. */
import { importFile } from 'ipfs-unixfs-importer'

/** A file's CID and its DAG's cumulative size (what the IPFS HTTP API answers as `Size`). */
export interface Added {
  readonly cid: string
  readonly dagSize: number
}

/** `ipfs add` with its defaults, by the maintained importer; blocks are not kept. */
export async function ipfsAdd(content: AsyncIterable<Uint8Array>): Promise<Added> {
  const entry = await importFile({ content }, { put: (cid) => cid }, { profile: 'unixfs-v0-2015' })
  return { cid: entry.cid.toString(), dagSize: Number(entry.size) }
}
