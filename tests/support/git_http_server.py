#!/usr/bin/env python3
"""A Git smart-HTTP server for tests: `git http-backend` behind HTTP basic auth, on loopback.

Usage: git_http_server.py PROJECT_ROOT USER TOKEN
Prints the port it listens on (127.0.0.1), then serves until killed. Requests without the
right `Authorization: Basic` header get 401 with a `WWW-Authenticate` challenge, as a forge does.
An empty TOKEN serves without authentication, as a public repository is served; the USER
`bearer` asks for `Authorization: Bearer TOKEN` instead of basic auth.
"""
import base64, http.server, os, subprocess, sys

root, user, token = sys.argv[1], sys.argv[2], sys.argv[3]
if user == 'bearer':
    expected = 'Bearer ' + token
else:
    expected = 'Basic ' + base64.b64encode(f'{user}:{token}'.encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_git(self):
        if token and self.headers.get('Authorization') != expected:
            self.send_response(401)
            self.send_header('WWW-Authenticate', 'Basic realm="git"')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        path, _, query = self.path.partition('?')
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL='1', PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER=user,
                   CONTENT_TYPE=self.headers.get('Content-Type', ''), CONTENT_LENGTH=str(len(body)),
                   GIT_CONFIG_COUNT='1', GIT_CONFIG_KEY_0='http.receivepack', GIT_CONFIG_VALUE_0='true')
        if self.headers.get('Content-Encoding') == 'gzip':
            env['HTTP_CONTENT_ENCODING'] = 'gzip'
        out = subprocess.run(['git', 'http-backend'], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b'\r\n\r\n')
        status = 200
        headers = []
        for line in head.split(b'\r\n'):
            k, _, v = line.decode().partition(':')
            if k.lower() == 'status':
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
