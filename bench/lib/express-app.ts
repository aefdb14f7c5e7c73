// The Express app the build-cache and deploy-edit benches deploy: `version` is the one line an
// "edit" changes between the first and the second deploy.

export function expressServer(version: string): string {
  return `const express = require('express');
const app = express();
app.get('/health', (req, res) => res.send('ok'));
app.get('/', (req, res) => res.send('hello ${version}'));
app.listen(Number(process.env.PORT));
`;
}
