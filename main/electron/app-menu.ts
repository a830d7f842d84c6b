import { Menu, type MenuItemConstructorOptions } from 'electron'

/**
 * The application menu: hidden on Linux and Windows (autoHideMenuBar; Alt shows it), there
 * for its shortcuts — Ctrl+Q quits (the only way out when no tray exists), copy and paste work
 * in the forms. Development builds add reload and the developer tools.
 */
export function installAppMenu(options: {
  readonly platform?: NodeJS.Platform
  readonly development: boolean
}): void {
  const platform = options.platform ?? process.platform
  const dev: MenuItemConstructorOptions[] = options.development
    ? [{ label: 'Develop', submenu: [{ role: 'reload' }, { role: 'toggleDevTools' }] }]
    : []
  const template: MenuItemConstructorOptions[] =
    platform === 'darwin'
      ? [{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }, ...dev]
      : [
          {
            label: '&Ferry',
            submenu: [
              { role: 'close', label: '&Close window' },
              { type: 'separator' },
              { role: 'quit', label: '&Quit Ferry', accelerator: 'CmdOrCtrl+Q' },
            ],
          },
          { role: 'editMenu' },
          ...dev,
        ]
  Menu.setApplicationMenu(Menu.buildFromTemplate(template))
}
