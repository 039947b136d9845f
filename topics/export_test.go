package topics

// Accessors of unexported reply state, for the external tests only.

func OutcomeOf(r Reply) string          { return r.outcome }
func DeadLetterReasonOf(r Reply) string { return r.poison }
func Abandoned(r Reply) bool            { return r.abandon }
