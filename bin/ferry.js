#!/usr/bin/env node
// Thin launcher so `npx ferry` runs the CLI that `npm ci` built (prepare → electron-vite build).
import '../out/main/cli.js'
