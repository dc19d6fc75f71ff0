// A stand-in for your web app's dev server: serves index.html, and /config.js with the
// emulator's URL and API key from the environment (docker-compose.yml sets them).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';

const port = Number(process.env.PORT || 3000);
const config = {
  graphqlUrl: process.env.APPSYNC_URL || 'http://localhost:4000/graphql',
  apiKey: process.env.APPSYNC_API_KEY || '',
};

const server = createServer(async (req, res) => {
  if (req.url === '/config.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(`window.APPSYNC = ${JSON.stringify(config)};\n`);
    return;
  }
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(await readFile(new URL('./index.html', import.meta.url)));
    return;
  }
  res.writeHead(404).end();
});
server.listen(port, '0.0.0.0', () => console.log(`web app on http://localhost:${port}`));
