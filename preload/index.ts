import { contextBridge } from 'electron'
import type { FerryApi } from './contract.ts'

const api: FerryApi = { version: '0.1.0' }
contextBridge.exposeInMainWorld('ferry', api)
