/**
 * Composition root of the desktop app: builds the app service (plain Node: engine, settings,
 * keychain) and wires it by hand to Electron — single instance, window, tray, notifications,
 * IPC, launch at login, and a quit that waits for in-flight uploads. Everything here is glue;
 * the behaviour lives in main/ipc/, main/sync/ and the small modules of main/electron/.
 */
import { join } from 'node:path'
import {
  app,
  dialog,
  ipcMain,
  Notification,
  session,
  shell,
  type BrowserWindow,
  type OpenDialogOptions,
} from 'electron'
import type { EventName, Events, SyncStatus } from '../preload/contract.ts'
import { AppService } from './ipc/app-service.ts'
import { createHandlers } from './ipc/ipc-handlers.ts'
import { registerIpc } from './ipc/ipc-router.ts'
import { redactDeep } from './ipc/redact-deep.ts'
import { startupProblem } from './ipc/startup-problem.ts'
import { KeychainSecretStore } from './platform/keychain.ts'
import { RotatingLogFile, SecretRedactor } from './platform/log-file.ts'
import { tuneEngineMemory } from './platform/memory-tuning.ts'
import { stateDir } from './platform/paths.ts'
import { claimSingleInstance, guardQuit } from './electron/app-lifecycle.ts'
import { assetsDir } from './electron/asset-location.ts'
import { installAppMenu } from './electron/app-menu.ts'
import { ElectronSettingsStore } from './electron/electron-settings-store.ts'
import { launchedAtLogin, setLaunchAtLogin } from './electron/login-item.ts'
import { closeAction, createMainWindow, hardenSession, showWindow } from './electron/main-window.ts'
import { Notifier } from './electron/notifier.ts'
import { rendererLocation } from './electron/renderer-location.ts'
import { startSandboxProcess, type SandboxHandle } from './electron/sandbox-process.ts'
import { registeringHandlers, registeringSecrets } from './electron/secret-registration.ts'
import { FerryTray, trayAvailable } from './electron/tray.ts'
import type { TrayCommand } from './electron/tray-state.ts'

// The built app: out/main/index.js next to out/preload and out/renderer.
const OUT = join(import.meta.dirname, '..')
const QUIT_TIMEOUT_MS = 5000

// Every secret seen (typed, read from the keychain) is registered here; nothing goes to the
// log, the console, the window or an error box without passing through it.
const redactor = new SecretRedactor()
const redact = (text: string): string => redactor.redact(text)

async function main(): Promise<void> {
  // The engine runs in this process, as in `ferry sync`: same heap tuning.
  tuneEngineMemory()
  const development = !app.isPackaged
  const ASSETS = assetsDir({
    isPackaged: app.isPackaged,
    resourcesPath: process.resourcesPath,
    builtMainDir: import.meta.dirname,
  })
  // One state folder for the CLI and the app. Electron's default userData is
  // ~/.config/<package name> — "ferry", not the CLI's "Ferry" — so it is set, not assumed.
  const dir = stateDir()
  app.setPath('userData', dir)
  // Chromium's own caches and storage stay out of the way of config.json and the index.
  app.setPath('sessionData', join(dir, 'chromium'))
  // Windows shows notifications only for an app with an id (electron-builder.yml's appId).
  if (process.platform === 'win32') app.setAppUserModelId('cloud.ferry.app')

  let window: BrowserWindow | undefined
  const openWindow = (): void => {
    if (!window || window.isDestroyed()) window = newWindow()
    showWindow(window)
  }
  if (!claimSingleInstance(() => app.isReady() && openWindow())) {
    app.quit()
    return
  }

  const logFile = new RotatingLogFile({ dir: join(dir, 'logs'), redactor })
  const log = (line: string): void => {
    logFile.write(line)
    if (development) console.log(redactor.redact(line))
  }
  log(`[app] Ferry ${app.getVersion()} starting (${process.platform} ${process.arch})`)

  const settings = new ElectronSettingsStore(dir)
  // electron-store answers a sync IPC message for stores made in renderers; Ferry makes none,
  // and every channel the page can reach goes through registerIpc's checks.
  ipcMain.removeAllListeners('electron-store-get-data')
  let sandbox: Promise<SandboxHandle> | undefined
  const pickFolder = async (options: OpenDialogOptions): Promise<string | null> => {
    const result = window
      ? await dialog.showOpenDialog(window, options)
      : await dialog.showOpenDialog(options)
    return result.canceled ? null : (result.filePaths[0] ?? null)
  }
  const service = new AppService({
    settings,
    secrets: registeringSecrets(new KeychainSecretStore(), redactor),
    stateDir: dir,
    version: app.getVersion(),
    chooseFolder: () =>
      pickFolder({ title: 'Choose a folder to keep stored', properties: ['openDirectory'] }),
    chooseDiagnosticsFolder: () =>
      pickFolder({
        title: 'Where should the diagnostics go?',
        buttonLabel: 'Save here',
        properties: ['openDirectory', 'createDirectory'],
      }),
    openPath: async (path) => {
      const error = await shell.openPath(path)
      if (error) throw new Error(`Could not open ${path}: ${error}`)
    },
    setLaunchAtLogin: (enabled) => {
      // A development build would register the bare Electron binary, not Ferry.
      if (app.isPackaged) setLaunchAtLogin(enabled)
    },
    ...(development
      ? {
          startSandbox: async () => {
            sandbox ??= startSandboxProcess({
              node: process.env['npm_node_execpath'] ?? 'node',
              script: join(app.getAppPath(), 'test', 'servers', 'sandbox.ts'),
              cwd: app.getAppPath(),
              dataDir: join(dir, 'sandbox'),
              log,
            }).catch((error: unknown) => {
              sandbox = undefined
              throw error
            })
            const { account } = await sandbox
            redactor.add(account.secret)
            return account
          },
        }
      : {}),
    logFiles: () => logFile.files(),
    redact,
    log,
  })

  const renderer = rendererLocation({
    rendererDir: join(OUT, 'renderer'),
    devUrl: process.env['ELECTRON_RENDERER_URL'],
    isPackaged: app.isPackaged,
  })
  registerIpc(ipcMain, registeringHandlers(createHandlers(service), redactor), {
    isTrustedSender: renderer.isTrusted,
    redact,
    log,
  })

  // Made once the app is ready; a quit may come before that.
  const ui: { tray?: FerryTray; notifier?: Notifier } = {}
  const quit = guardQuit({
    stop: () => service.stop(),
    timeoutMs: QUIT_TIMEOUT_MS,
    cleanUp: async () => {
      ui.notifier?.dispose()
      ui.tray?.dispose()
      await (await sandbox?.catch(() => undefined))?.close()
      settings.close()
      await logFile.close()
    },
    log,
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit())
  // The window's close hides it: the app lives on in the tray until Quit.
  app.on('window-all-closed', () => undefined)
  app.on('activate', () => openWindow())
  app.on('web-contents-created', (_event, contents) => {
    // Whatever webContents appears (devtools included) opens no window and attaches no webview.
    contents.setWindowOpenHandler(() => ({ action: 'deny' }))
    contents.on('will-attach-webview', (event) => event.preventDefault())
  })

  await app.whenReady()
  hardenSession(session.defaultSession, renderer)
  installAppMenu({ development })
  if (app.isPackaged) setLaunchAtLogin(settings.read().launchAtLogin)

  let appState = redactDeep(service.appState(), redact)
  const hasTray = trayAvailable()
  const onTrayCommand = (command: TrayCommand): void => {
    switch (command.kind) {
      case 'open-window':
        return openWindow()
      case 'pause-all':
        return service.pauseAll(command.paused)
      case 'open-folder':
        return void service.openFolder(command.folderId).catch((e: unknown) => log(String(e)))
      case 'quit':
        return app.quit()
    }
  }
  const tray = hasTray
    ? FerryTray.create(
        { assetsDir: ASSETS, onCommand: onTrayCommand, log },
        redactDeep(service.status(), redact),
        appState,
      )
    : undefined

  function newWindow(): BrowserWindow {
    return createMainWindow({
      preload: join(OUT, 'preload', 'index.cjs'),
      renderer,
      icon: join(ASSETS, 'icon.png'),
      devTools: development,
      onClose: () =>
        closeAction({
          quitting: quit.quitting,
          trayAvailable: tray !== undefined,
          platform: process.platform,
        }),
      log,
    })
  }
  // Payloads are redacted by the callers, once for the window, the tray and notifications.
  const send = <E extends EventName>(event: E, redacted: Events[E]): void => {
    if (window && !window.isDestroyed()) window.webContents.send(event, redacted)
  }

  const notifier = new Notifier({
    enabled: () => settings.read().notifications,
    show: (content) => {
      if (!Notification.isSupported()) return
      const notification = new Notification({ title: content.title, body: content.body })
      notification.on('click', openWindow)
      notification.show()
    },
  })
  Object.assign(ui, { tray, notifier })
  // Status snapshots come at most ten a second (the status model throttles); the tray throttles
  // its rebuilds further.
  service.onDidChangeStatus((status: SyncStatus) => {
    // Everything shown, in the window or by the system (tray menu, notifications), is redacted.
    const shown = redactDeep(status, redact)
    send('status:changed', shown)
    tray?.update(shown, appState)
    notifier.update(shown)
  })
  service.onDidChangeApp((state) => {
    appState = redactDeep(state, redact)
    send('app:changed', appState)
    tray?.update(redactDeep(service.status(), redact), appState)
  })

  window = newWindow()
  // A login launch starts in the tray; without a tray, or before the first account, the window
  // shows (nothing else would tell that Ferry runs, or what to do next).
  const startHidden = launchedAtLogin() && tray !== undefined && appState.accounts.length > 0
  if (!startHidden) window.once('ready-to-show', () => window && showWindow(window))

  try {
    await service.start()
    log('[app] syncing')
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    log(`[app] cannot start syncing: ${message}`)
    const problem = startupProblem(error, logFile.path)
    dialog.showErrorBox(redact(problem.title), redact(problem.message))
    app.exit(1)
  }
}

void main().catch((error: unknown) => {
  console.error(redact(error instanceof Error ? (error.stack ?? error.message) : String(error)))
  app.exit(1)
})
