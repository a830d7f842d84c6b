/** The IPC contract shared by main, preload and renderer (types only). Grows with issue #4. */
export interface FerryApi {
  readonly version: string
}
