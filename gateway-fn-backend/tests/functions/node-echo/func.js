const fdk = require('@fnproject/fdk')

fdk.handle(function (input, ctx) {
  if (input === 'boom') {
    throw new Error('deliberate failure')
  }
  const gw = ctx.httpGateway
  console.log('node echo handling ' + ctx.callID)
  if (gw.method) {
    gw.statusCode = 201
    gw.setResponseHeader('X-Echo', 'yes')
  }
  return {
    got: input,
    callID: ctx.callID,
    method: gw.method,
    url: gw.requestURL,
    headers: gw.headers,
    appName: ctx.appName,
    fnName: ctx.fnName,
    pid: process.pid
  }
}, { inputMode: 'string' })
