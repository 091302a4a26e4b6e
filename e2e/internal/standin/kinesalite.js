// Starts kinesalite (the npm Kinesis stand-in) for the Go tests in package
// standin. Unlike kinesalite's CLI it listens on 127.0.0.1 only, on the port
// it is given (0: any free port), with short stream state transitions and
// shardLimit 100. With a "path", records live in a LevelDB directory and
// survive a restart (a crash drill kills this process and starts it again).
//
// Usage: node kinesalite.js '{"port":0,"path":"/tmp/dir"}'
// Prints "READY <port>" on stdout once listening; exits when stdin closes,
// so it never outlives the test binary that started it.
'use strict'

const kinesalite = require('kinesalite')

const opts = JSON.parse(process.argv[2] || '{}')
const server = kinesalite({
  path: opts.path || undefined,
  shardLimit: 100,
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
})

server.on('error', (err) => {
  console.error('kinesalite: ' + (err.stack || err))
  process.exit(1)
})

server.listen(opts.port || 0, '127.0.0.1', () => {
  process.stdout.write('READY ' + server.address().port + '\n')
})

process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
