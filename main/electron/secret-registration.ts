import type { Handlers } from '../ipc/ipc-handlers.ts'
import type { SecretRedactor } from '../platform/log-file.ts'
import type { SecretStore } from '../platform/secret-store.ts'

/**
 * The keychain, telling the log's redactor every secret that passes through it (read by the
 * engine, saved at sign-in), so none can reach the log even inside an unexpected message.
 */
export function registeringSecrets(store: SecretStore, redactor: SecretRedactor): SecretStore {
  return {
    get: async (account) => {
      const secret = await store.get(account)
      if (secret) redactor.add(secret)
      return secret
    },
    set: async (account, secret) => {
      redactor.add(secret)
      await store.set(account, secret)
    },
    delete: (account) => store.delete(account),
  }
}

/**
 * The IPC handlers, with the secrets people type (a key being tested may never reach the
 * keychain) registered with the redactor before anything runs with them.
 */
export function registeringHandlers(handlers: Handlers, redactor: SecretRedactor): Handlers {
  return {
    ...handlers,
    'account:test': (input) => {
      redactor.add(input.secret)
      return handlers['account:test'](input)
    },
    'account:add': (input) => {
      redactor.add(input.secret)
      return handlers['account:add'](input)
    },
    'account:sign-in': (accountId, secret) => {
      redactor.add(secret)
      return handlers['account:sign-in'](accountId, secret)
    },
  }
}
