// QEMU user networking spawns this once per guest connection to the guestfwd address
// (guestfwd=tcp:ADDR:PORT-cmd:node guestfwd-relay.cjs HOSTPORT): the guest's bytes arrive on
// stdin, the collector's go to stdout. It connects only to 127.0.0.1, so with restrict=on the
// guest reaches the collector and nothing else.
const net = require('node:net');
const socket = net.connect(Number(process.argv[2]), '127.0.0.1');
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
process.stdin.on('end', () => socket.end());
