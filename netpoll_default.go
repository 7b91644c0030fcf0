package calloop

import "runtime"

// defaultNetpoll: the runtime netpoller is the default way to sleep where it
// has been measured to work (see WithNetpoller).
var defaultNetpoll = runtime.GOOS == "linux"
