// Preloaded into a Node server (node --require THIS_FILE server.js) by the mcpfwd tests.
//
// server-everything's HTTP transports call `app.listen(PORT)`, which binds every
// interface and, with PORT=0, never says which port it got.  This wraps
// net.Server.prototype.listen so that a listen on a bare port binds 127.0.0.1
// only, and prints one line on stderr once the socket is listening:
//     mcpfwd-test: listening 127.0.0.1 <port>
"use strict";
const net = require("net");

const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  const barePort = typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first));
  if (barePort && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && !Array.isArray(first) && first.host === undefined
             && first.path === undefined) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  this.once("listening", () => {
    const addr = this.address();
    if (addr && typeof addr === "object") {
      process.stderr.write(`mcpfwd-test: listening ${addr.address} ${addr.port}\n`);
    }
  });
  return originalListen.apply(this, args);
};
