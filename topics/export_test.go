package topics

import (
	"errors"
	"time"
)

// Views of unexported handling state, for the external tests only.

func OutcomeOf(res any, err error) string { return outcomeOf(res, err) }

func DeadLetterReasonOf(err error) string {
	if p, ok := err.(*poisonError); ok {
		return p.reason
	}
	return ""
}

func Abandoned(err error) bool { return errors.Is(err, errAbandoned) }

func DeadlineOf(header []byte, hasHeader bool, r Routing, recordTime time.Time) time.Time {
	return deadlineOf(header, hasHeader, r, recordTime)
}
