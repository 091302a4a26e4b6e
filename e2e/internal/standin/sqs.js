// Starts local-aws-sqs (the npm SQS stand-in, JSON and Query protocols) for
// the Go tests in package standin, on 127.0.0.1 and the given port (0: any
// free port). Queue URLs name that host and port.
//
// Usage: node sqs.js '{"port":0,"region":"us-east-1"}'
// Prints "READY <port>" on stdout once listening; exits when stdin closes,
// so it never outlives the test binary that started it.
'use strict'

const { createSqsServer } = require('local-aws-sqs')

const opts = JSON.parse(process.argv[2] || '{}')

createSqsServer({
  port: opts.port || 0,
  hostname: '127.0.0.1',
  region: opts.region || 'us-east-1',
  // Tests create and delete queues freely; AWS's 60 s wait before reusing a
  // deleted queue's name would only slow them down.
  emulateQueueCreationLifecycle: false,
}).then((server) => {
  server.on('error', (err) => {
    console.error('local-aws-sqs: ' + (err.stack || err))
    process.exit(1)
  })
  process.stdout.write('READY ' + server.address().port + '\n')
}, (err) => {
  console.error('local-aws-sqs: ' + (err.stack || err))
  process.exit(1)
})

process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
