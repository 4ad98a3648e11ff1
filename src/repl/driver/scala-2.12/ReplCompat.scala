package org.livyserver.repl

import java.io.PrintWriter

import scala.tools.nsc.Settings
import scala.tools.nsc.interpreter.{IMain, PresentationCompilerCompleter}

/** The REPL calls whose API differs between Scala versions: the Scala 2.12 side. */
object ReplCompat {
  /** An initialized interpreter whose class loader has `parent` as parent, reporting to `out`. */
  def createInterpreter(settings: Settings, parent: ClassLoader, out: PrintWriter): IMain = {
    settings.embeddedDefaults(parent) // sets the interpreter's parent loader (and reads no app.class.path here)
    val intp = new IMain(settings, out)
    intp.initializeSynchronous()
    intp
  }

  /** Completion candidates at `cursor`. */
  def complete(intp: IMain, code: String, cursor: Int): Seq[String] =
    new PresentationCompilerCompleter(intp).complete(code, cursor).candidates

  /**
   * The top-level statements of `code`: for each, the offset where it ends and whether it defines
   * a class, object, trait or type. None if `code` does not parse into positioned statements.
   */
  def topLevel(intp: IMain, code: String): Option[Seq[(Int, Boolean)]] = intp.parse(code) match {
    case intp.parse.Success(trees) if trees.forall(_.pos.isRange) => Some(trees.map(t => (t.pos.end, TreeKinds.isDefinition(t))))
    case _ => None
  }
}
