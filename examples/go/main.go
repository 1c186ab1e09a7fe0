// A Go client of modelbus with nothing but nats.go: a JSON request to modelbus.infer.<model>, the reply
// printed as one JSON line, and a refusal (the NATS micro error headers) printed as `<code> <Tag>: <message>`, exit 1.
//
//	go run . [-s nats://127.0.0.1:4222] [-model iris] [-input '[[5.1,3.5,1.4,0.2]]']
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

// Tensor is a tensor as modelbus writes it in JSON: dtype, shape, and the values flat in row-major order.
type Tensor struct {
	Dtype string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// Reply is a successful answer of a model with one output; the version and the actor that computed it.
type Reply struct {
	Outputs Tensor `json:"outputs"`
	Model   string `json:"model"`
	Version int    `json:"version"`
	Actor   string `json:"actor"`
}

// Refusal is the body of an error reply: {"error": {"_tag": "BadInput", "message": "…", …}}.
type Refusal struct {
	Error struct {
		Tag     string `json:"_tag"`
		Message string `json:"message"`
	} `json:"error"`
}

func main() {
	server := os.Getenv("NATS_URL")
	if server == "" {
		server = nats.DefaultURL
	}
	flag.StringVar(&server, "s", server, "NATS server URL(s), comma-separated (default $NATS_URL)")
	model := flag.String("model", "iris", "the model to call")
	input := flag.String("input", "[[5.1,3.5,1.4,0.2]]", "the inputs as nested number arrays, one row per sample")
	flag.Parse()

	nc, err := nats.Connect(server)
	if err != nil {
		fail("ConnectionError", err.Error())
	}
	defer nc.Close()

	if !json.Valid([]byte(*input)) {
		fail("BadInput", "-input is not JSON: "+*input)
	}
	request := nats.NewMsg("modelbus.infer." + *model)
	request.Header.Set("Content-Type", "application/json")
	request.Data = []byte(`{"inputs": ` + *input + `}`)
	msg, err := nc.RequestMsg(request, 5*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		fail("NoResponders", "no replica is serving "+request.Subject)
	} else if err != nil {
		fail("Timeout", err.Error())
	}

	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		var refusal Refusal
		_ = json.Unmarshal(msg.Data, &refusal)
		fail(code+" "+refusal.Error.Tag, refusal.Error.Message)
	}
	var reply Reply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		fail("BadReply", err.Error())
	}
	line, _ := json.Marshal(reply)
	fmt.Println(string(line))
}

func fail(what, message string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", what, message)
	os.Exit(1)
}
