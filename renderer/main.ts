// Placeholder renderer: the real UI arrives with issue #4.
const app = document.querySelector('#app')
if (app) app.setAttribute('data-ready', 'true')
