package llm

import (
	"context"
	"fmt"
)

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ollama calls POST /api/chat with the answer's JSON schema as format.
func (c *Client) ollama(ctx context.Context, system, user string) (string, int64, error) {
	body := map[string]any{
		"model":    c.model,
		"messages": []chatMessage{{"system", system}, {"user", user}},
		"stream":   false,
		"format":   answerSchema,
		"options":  map[string]any{"temperature": 0},
	}
	var out struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Done            bool   `json:"done"`
		PromptEvalCount int64  `json:"prompt_eval_count"`
		EvalCount       int64  `json:"eval_count"`
		Error           string `json:"error"`
	}
	if err := c.post(ctx, c.baseURL+"/api/chat", body, &out); err != nil {
		return "", 0, err
	}
	tokens := tokenCount(out.PromptEvalCount) + tokenCount(out.EvalCount)
	if out.Error != "" {
		return "", tokens, fmt.Errorf("%w: %s", ErrBackend, out.Error)
	}
	return out.Message.Content, tokens, nil
}

// openAI calls POST /chat/completions with a strict json_schema
// response_format.
func (c *Client) openAI(ctx context.Context, system, user string) (string, int64, error) {
	body := map[string]any{
		"model":       c.model,
		"messages":    []chatMessage{{"system", system}, {"user", user}},
		"temperature": 0,
		"response_format": map[string]any{
			"type": "json_schema",
			"json_schema": map[string]any{
				"name":   "home_intent",
				"strict": true,
				"schema": answerSchema,
			},
		},
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
				Refusal string `json:"refusal"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := c.post(ctx, c.baseURL+"/chat/completions", body, &out); err != nil {
		return "", 0, err
	}
	tokens := tokenCount(out.Usage.TotalTokens)
	if len(out.Choices) == 0 {
		return "", tokens, fmt.Errorf("%w: no choices", ErrInvalidOutput)
	}
	ch := out.Choices[0]
	if ch.Message.Refusal != "" {
		return "", tokens, fmt.Errorf("%w: refused: %s", ErrInvalidOutput, ch.Message.Refusal)
	}
	if ch.FinishReason == "length" {
		return "", tokens, fmt.Errorf("%w: answer cut off", ErrInvalidOutput)
	}
	return ch.Message.Content, tokens, nil
}

// maxTokens bounds a count of tokens a backend reports: no answer costs
// more, and a sum of counts stays far from overflowing the audit log's
// 32-bit column or an int64.
const maxTokens = 1 << 24

// tokenCount is a count a backend reported, within 0 and maxTokens.
func tokenCount(n int64) int64 { return min(max(n, 0), maxTokens) }
