package repository

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Backlog reports how many events wait in the outbox and when the oldest
// of them was recorded (the zero time when none waits). The oldest one is
// read through the "registrado" index.
func (o *Outbox) Backlog(ctx context.Context) (int64, time.Time, error) {
	var d struct {
		Registrado time.Time `bson:"registrado"`
	}
	err := o.coll.FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "registrado", Value: 1}, {Key: "_id", Value: 1}}).
			SetProjection(bson.D{{Key: "registrado", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, mapError(err)
	}
	n, err := o.coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, time.Time{}, mapError(err)
	}
	return n, d.Registrado.UTC(), nil
}
