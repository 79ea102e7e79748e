// No package.json and no entrypoint in func.yaml: the runtime installs @fnproject/fdk itself
// and runs `node func.js`, as the Fn CLI would.
const fdk = require('@fnproject/fdk')

fdk.handle(function (input) {
  return { bare: true, got: input }
}, { inputMode: 'string' })
