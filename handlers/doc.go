// Package handlers is the domain of the customer service and its use
// cases: the customer (Cliente) and its purchases (Compra), the rules that
// validate them, and one file per use case (crear.go, actualizar.go,
// obtener.go, registrar_venta.go, ...), each a method of Service.
//
// The name comes from the project's fixed layout; read it as "the code that
// handles each operation". It knows nothing of Kafka, HTTP or MongoDB:
// transports (topics/, the HTTP edge) call Service, and Service reaches
// storage only through the interfaces declared next to the code that uses
// them (Store, Historial, Outbox, IdempotencyStore). memstore/ implements
// them in memory for tests; storetest/ and idempotencytest/ are the
// contract suites that memstore and the MongoDB repository both pass.
//
// Names: domain words are Spanish, as in the wire contract (Cliente, dni,
// fechaRegistro, Compra, Venta); mechanisms are English (Store, Outbox,
// Relay, IdempotencyStore).
package handlers
