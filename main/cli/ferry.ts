console.log('ferry: not yet')
