// Calls one tool of an MCP server with the official MCP TypeScript SDK, used as shipped: `Client`
// over `StreamableHTTPClientTransport`, the bearer token as the only extra header.
//
//   node call_tool.mjs <mcp-url> <bearer-token> <tool-name> [json-arguments]
//
// Prints ONE JSON line on stdout and exits 0, whatever the server did:
//   {"ok": true, "result": <CallToolResult>}
//   {"ok": false, "stage": "connect"|"call", "status": <HTTP status or null>, "message": "..."}
// `status` is the HTTP status when the SDK's error carries one (StreamableHTTPError.code), else
// null (e.g. a JSON-RPC error, a network error, the 20 s overall timeout). Exits 2 on a usage
// error; any other non-zero exit is a crash. Diagnostics (transport errors) go to stderr.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const TIMEOUT_MS = 20_000;

function usage(problem) {
  process.stderr.write(`${problem}\nusage: node call_tool.mjs <mcp-url> <bearer-token> <tool-name> [json-arguments]\n`);
  process.exit(2);
}

const [url, token, tool, rawArguments, ...extra] = process.argv.slice(2);
if (!url || token === undefined || !tool || extra.length > 0) usage('wrong number of arguments');
let endpoint;
try {
  endpoint = new URL(url);
} catch {
  usage(`not a URL: ${url}`);
}
let toolArguments = {};
if (rawArguments !== undefined) {
  try {
    toolArguments = JSON.parse(rawArguments);
  } catch (error) {
    usage(`json-arguments is not JSON: ${error.message}`);
  }
  if (toolArguments === null || typeof toolArguments !== 'object' || Array.isArray(toolArguments)) {
    usage('json-arguments must be a JSON object');
  }
}

let finished = false;
function finish(line) {
  if (finished) return;
  finished = true;
  // Pipes are written synchronously on Linux; exit only once the line is out anyway.
  process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(0));
}

function failure(stage, error) {
  const code = error instanceof StreamableHTTPError ? error.code : undefined;
  const status = Number.isInteger(code) && code >= 100 && code <= 599 ? code : null;
  let message = error instanceof Error ? error.message : String(error);
  // fetch() says only "fetch failed"; why (e.g. ECONNREFUSED) is in the cause.
  if (error instanceof Error && error.cause instanceof Error) message += `: ${error.cause.message}`;
  return { ok: false, stage, status, message };
}

let stage = 'connect';
const timer = setTimeout(() => {
  finish({ ok: false, stage, status: null, message: `timed out after ${TIMEOUT_MS / 1000} s` });
}, TIMEOUT_MS);

const client = new Client({ name: 'mcp-gatekeeper-tests', version: '1.0.0' });
client.onerror = (error) => process.stderr.write(`client error: ${error?.message ?? error}\n`);
const transport = new StreamableHTTPClientTransport(endpoint, {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});

let outcome;
try {
  await client.connect(transport);
  stage = 'call';
  const result = await client.callTool({ name: tool, arguments: toolArguments });
  outcome = { ok: true, result };
} catch (error) {
  outcome = failure(stage, error);
} finally {
  await client.close().catch((error) => process.stderr.write(`close failed: ${error?.message ?? error}\n`));
  clearTimeout(timer);
}
finish(outcome);
