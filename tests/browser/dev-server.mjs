// Development server for the viewer: serves the viewer files at the URL paths
// motionmcp-host uses and proxies every other path to a running MMCP server.
//
//   node tests/browser/dev-server.mjs [PORT] [UPSTREAM]
//   (serves host/viewer's files: run `npm ci` in host/viewer first)
//   (defaults: 8124 and http://127.0.0.1:8123)
//
// Prints "listening http://127.0.0.1:PORT" once ready.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const viewer = path.join(root, 'host/viewer');
const three = path.join(viewer, 'node_modules/three');

// URL path -> [file, Content-Type]; the same table the Rust server embeds.
const FILES = {
  '/': [path.join(viewer, 'index.html'), 'text/html; charset=utf-8'],
  '/viewer/viewer.js': [path.join(viewer, 'viewer.js'), 'text/javascript; charset=utf-8'],
  '/viewer/viewer.css': [path.join(viewer, 'viewer.css'), 'text/css; charset=utf-8'],
  '/viewer/three.module.js': [path.join(three, 'build/three.module.js'), 'text/javascript; charset=utf-8'],
  '/viewer/three.core.js': [path.join(three, 'build/three.core.js'), 'text/javascript; charset=utf-8'],
  '/viewer/OrbitControls.js': [path.join(three, 'examples/jsm/controls/OrbitControls.js'), 'text/javascript; charset=utf-8'],
};

const port = Number(process.argv[2] || 8124);
const upstream = new URL(process.argv[3] || 'http://127.0.0.1:8123');

http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = FILES[url.pathname];
  if (file && req.method === 'GET') {
    try {
      const body = await readFile(file[0]);
      res.writeHead(200, { 'Content-Type': file[1], 'Cache-Control': 'no-cache' });
      res.end(body);
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e));
    }
    return;
  }
  const headers = { ...req.headers, host: upstream.host };
  const proxied = http.request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
    (up) => { res.writeHead(up.statusCode, up.headers); up.pipe(res); },
  );
  proxied.on('error', (e) => {
    res.writeHead(502, { 'Content-Type': 'text/plain' });
    res.end(`upstream error: ${e.message}`);
  });
  req.pipe(proxied);
}).listen(port, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${port}`));
