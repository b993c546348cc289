package web_test

import (
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/token"
)

func tokenMinter(e *brokertest.Env) broker.Minter { return token.Minter{Keyring: e.Keys} }
