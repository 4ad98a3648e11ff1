package org.apache.spark.livyserver

import org.apache.spark.api.r.RBackend

/**
 * Spark's RBackend (the socket server SparkR's R side talks to) is `private[spark]`: this one
 * accessor lives in a package under `org.apache.spark` so the driver can start it inside the
 * session's JVM, on the session's SparkContext. Same API on Spark 3.5 and 4.x.
 */
object RBackendAccess {
  /** A running backend on localhost: its port, its auth secret, and how to stop it. */
  final case class Started(port: Int, secret: String, close: () => Unit)

  def start(): Started = {
    val backend = new RBackend()
    val (port, auth) = backend.init()
    val t = new Thread(() => backend.run(), "livy-r-backend")
    t.setDaemon(true)
    t.start()
    Started(port, auth.secret, () => backend.close())
  }
}
