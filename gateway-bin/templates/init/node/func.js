const fdk = require('@fnproject/fdk');

fdk.handle(function (input, ctx) {
  let name = 'World';
  if (input && input.name) {
    name = input.name;
  }
  const greeting = ctx.config.GREETING || 'Hello';
  console.log('Inside Node Hello World function');
  return { message: greeting + ' ' + name };
});
