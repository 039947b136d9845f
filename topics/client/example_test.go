package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics/client"
)

// A sales service checks the customer before registering a sale, and
// fetches the customers of a page of sales in one request.
func Example() {
	svc, err := startDemo() // a customer service on an in-process broker
	if err != nil {
		panic(err)
	}
	defer svc.stop()
	ana, _ := svc.svc.Crear(context.Background(), handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}, handlers.Cambio{})

	ctx := context.Background()
	clientes, err := client.New(ctx, client.Config{
		Cluster:      svc.brokers,
		CommandTopic: svc.cmd, QueryTopic: svc.qry, // defaults: cliente.comandos, cliente.consultas
		ReplyTopic: svc.prefix + "respuestas.ventas-1", // one per instance
		Timeout:    5 * time.Second,
		Log:        zerolog.Nop(),
	})
	if err != nil {
		panic(err)
	}
	defer clientes.Close()

	for _, id := range []int64{ana.ID, 77} {
		c, err := clientes.ValidarParaVenta(ctx, id)
		switch {
		case err == nil:
			fmt.Println("sell to", c.Nombre)
		case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrInactive):
			fmt.Println("refuse sale:", err)
		default: // client.ErrUnavailable: outcome unknown, do not sell now
			fmt.Println("try later:", err)
		}
	}
	page, _ := clientes.ObtenerVarios(ctx, []int64{ana.ID, 77})
	fmt.Println(len(page), "customer(s) for the page:", page[ana.ID].Email)
	// Output:
	// sell to Ana
	// refuse sale: customer 77: customer not found
	// 1 customer(s) for the page: ana@example.pe
}
