// Finds a currently unused UDP port on a loopback host by binding port 0 and
// closing the socket again. There is a small window in which another process can
// take the port; callers that bind it afterwards should retry on failure.

import dgram from 'node:dgram'

export function freeUdpPort (host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
    socket.once('error', (err) => {
      socket.close()
      reject(err)
    })
    socket.bind(0, host, () => {
      const { port } = socket.address()
      socket.close(() => resolve(port))
    })
  })
}
