package org.livyserver.jobapi;

import org.apache.livy.Job;
import org.apache.livy.JobContext;

/** Always fails, with a message the caller can look for in the error it gets back. */
public final class FailingJob implements Job<String> {
    private final String message;

    public FailingJob(String message) {
        this.message = message;
    }

    @Override
    public String call(JobContext jc) {
        throw new IllegalStateException(message);
    }
}
